//! In-order delivery with retries, for exporters that must hand over every
//! report (Prometheus remote write): a bounded queue in memory and a task
//! that sends its head, again and again with exponential backoff while the
//! receiver answers that it may take it later (unreachable, 5xx, 429 with
//! its `Retry-After`), so that each series' samples arrive in order.
//!
//! An answer that retrying cannot change (a 4xx other than 429) drops that
//! request with a warning and counts its snapshots as rejected. While the
//! receiver is down the queue holds up to its capacity; beyond it, the
//! oldest snapshots are dropped and counted, as Prometheus's own remote
//! write does once its write-ahead log is cut.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use monitor_core::{ExportError, Snapshot};
use tokio::sync::Notify;

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attempt {
    /// Taken.
    Done,
    /// Not now: try again (after the receiver's `Retry-After`, when given).
    Retry(String, Option<Duration>),
    /// Never: retrying would not help.
    Reject(String),
}

/// Where a [`Delivery`] sends.
#[async_trait]
pub(crate) trait Transport: Send + Sync + 'static {
    /// One attempt at delivering `batch` (oldest first).
    async fn send(&self, batch: &[Snapshot]) -> Attempt;

    /// What a snapshot weighs against [`Limits::max_batch_weight`] (its
    /// samples, for remote write).
    fn weight(&self, snapshot: &Snapshot) -> usize;
}

/// The bounds of a [`Delivery`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Snapshots held while the receiver is down.
    pub(crate) capacity: usize,
    /// The most weight one request carries (at least one snapshot).
    pub(crate) max_batch_weight: usize,
    /// The first wait after a failed attempt; it doubles up to `max_backoff`.
    pub(crate) min_backoff: Duration,
    /// The longest wait between attempts.
    pub(crate) max_backoff: Duration,
    /// How long the first snapshot of a batch waits for others to join it
    /// (zero: sent at once), unless the batch fills first.
    pub(crate) linger: Duration,
}

/// What a delivery (the remote-write exporter, the OTLP relay) has done
/// since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Snapshots delivered.
    pub delivered: u64,
    /// Snapshots the receiver refused for good.
    pub rejected: u64,
    /// Snapshots dropped because the queue was full.
    pub dropped: u64,
    /// Attempts that failed and were tried again.
    pub retries: u64,
    /// Snapshots waiting (the one being sent included).
    pub queued: u64,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Snapshot>,
    /// Snapshots taken by the sender and not yet settled.
    in_flight: usize,
    /// How the last attempt failed, while it is being retried.
    failing: Option<String>,
    /// When the oldest waiting snapshot arrived.
    since: Option<tokio::time::Instant>,
    /// The [`Delivery`] is gone: the sender ends once the queue is empty.
    closed: bool,
    last_drop_warning: Option<Instant>,
}

struct Shared<T> {
    transport: T,
    limits: Limits,
    queue: Mutex<Queue>,
    /// Told when snapshots arrive.
    work: Notify,
    /// Told when the queue empties.
    idle: Notify,
    delivered: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    name: &'static str,
}

/// A queue and its sender task (started on first use, inside the runtime).
pub(crate) struct Delivery<T: Transport> {
    shared: Arc<Shared<T>>,
    started: std::sync::Once,
}

impl<T: Transport> std::fmt::Debug for Delivery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("name", &self.shared.name)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<T: Transport> Drop for Delivery<T> {
    /// The sender delivers what is queued (retrying as before), then ends.
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.shared.work.notify_one();
    }
}

impl<T: Transport> Delivery<T> {
    /// A delivery through `transport`, named `name` in the logs.
    pub(crate) fn new(name: &'static str, transport: T, limits: Limits) -> Self {
        Delivery {
            shared: Arc::new(Shared {
                transport,
                limits,
                queue: Mutex::default(),
                work: Notify::new(),
                idle: Notify::new(),
                delivered: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                name,
            }),
            started: std::sync::Once::new(),
        }
    }

    /// Queues `snapshots` (dropping the oldest beyond the capacity) and
    /// wakes the sender. The error, while the receiver fails, says how.
    pub(crate) fn offer(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        self.started.call_once(|| {
            tokio::spawn(send_loop(Arc::clone(&self.shared)));
        });
        let shared = &self.shared;
        let failing = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.waiting.is_empty() && !snapshots.is_empty() {
                queue.since = Some(tokio::time::Instant::now());
            }
            queue.waiting.extend(snapshots.iter().cloned());
            let room = shared.limits.capacity.saturating_sub(queue.in_flight);
            let over = queue.waiting.len().saturating_sub(room);
            if over > 0 {
                queue.waiting.drain(..over);
                let dropped =
                    shared.dropped.fetch_add(over as u64, Ordering::Relaxed) + over as u64;
                if queue
                    .last_drop_warning
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                {
                    queue.last_drop_warning = Some(Instant::now());
                    tracing::warn!(
                        exporter = shared.name,
                        dropped,
                        capacity = shared.limits.capacity,
                        "The receiver is behind: the oldest snapshots were dropped for it."
                    );
                }
            }
            queue.failing.clone()
        };
        shared.work.notify_one();
        match failing {
            Some(message) => Err(ExportError::Unavailable(message)),
            None => Ok(()),
        }
    }

    /// Waits until everything queued was delivered (or refused), at most
    /// `deadline`.
    ///
    /// # Errors
    /// [`ExportError::Unavailable`] with how many snapshots still wait.
    pub(crate) async fn flush(&self, deadline: Duration) -> Result<(), ExportError> {
        let shared = &self.shared;
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let idle = shared.idle.notified();
            let (left, failing) = {
                let queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
                (queue.waiting.len() + queue.in_flight, queue.failing.clone())
            };
            if left == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return Err(ExportError::Unavailable(format!(
                    "{left} snapshot(s) not delivered within {deadline:?}{}",
                    failing.map_or(String::new(), |f| format!(": {f}"))
                )));
            }
        }
    }

    /// What it has done so far.
    pub(crate) fn stats(&self) -> DeliveryStats {
        let shared = &self.shared;
        let queued = {
            let queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            (queue.waiting.len() + queue.in_flight) as u64
        };
        DeliveryStats {
            delivered: shared.delivered.load(Ordering::Relaxed),
            rejected: shared.rejected.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
            retries: shared.retries.load(Ordering::Relaxed),
            queued,
        }
    }
}

/// Takes the head of the queue, up to the batch weight (one snapshot at
/// least) once the batch is full or its first snapshot has lingered long
/// enough, or waits for work; `None` once the [`Delivery`] is gone and its
/// queue empty.
async fn next_batch<T: Transport>(shared: &Shared<T>) -> Option<Vec<Snapshot>> {
    loop {
        let work = shared.work.notified();
        let linger_until = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let mut weight = 0;
            let mut take = 0;
            let mut full = false;
            for snapshot in &queue.waiting {
                let w = shared.transport.weight(snapshot);
                if take > 0 && weight + w > shared.limits.max_batch_weight {
                    full = true;
                    break;
                }
                weight += w;
                take += 1;
            }
            let until = queue.since.map(|t| t + shared.limits.linger);
            let ripe =
                full || queue.closed || until.is_none_or(|u| u <= tokio::time::Instant::now());
            if take > 0 && ripe {
                let batch: Vec<Snapshot> = queue.waiting.drain(..take).collect();
                queue.in_flight = batch.len();
                queue.since = if queue.waiting.is_empty() {
                    None
                } else {
                    Some(tokio::time::Instant::now())
                };
                return Some(batch);
            }
            if take == 0 {
                shared.idle.notify_waiters();
                if queue.closed {
                    return None;
                }
                None
            } else {
                until
            }
        };
        match linger_until {
            Some(until) => {
                // More may come to fill the batch before it is due.
                let _ = tokio::time::timeout_at(until, work).await;
            }
            None => work.await,
        }
    }
}

async fn send_loop<T: Transport>(shared: Arc<Shared<T>>) {
    while let Some(batch) = next_batch(&shared).await {
        let mut backoff = shared.limits.min_backoff;
        loop {
            match shared.transport.send(&batch).await {
                Attempt::Done => {
                    shared
                        .delivered
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let recovered = shared
                        .queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .failing
                        .take();
                    if recovered.is_some() {
                        tracing::info!(exporter = shared.name, "The receiver takes reports again.");
                    }
                    break;
                }
                Attempt::Reject(message) => {
                    shared
                        .rejected
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    tracing::warn!(exporter = shared.name, snapshots = batch.len(), %message, "The receiver refused reports; they are not sent again.");
                    shared
                        .queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .failing = None;
                    break;
                }
                Attempt::Retry(message, after) => {
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                    let (first, closed) = {
                        let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
                        (
                            queue.failing.replace(message.clone()).is_none(),
                            queue.closed,
                        )
                    };
                    if closed {
                        // Nobody is left to wait for it.
                        shared
                            .dropped
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    if first {
                        tracing::warn!(exporter = shared.name, %message, "The receiver cannot take reports now; trying again with backoff.");
                    }
                    let wait = after
                        .unwrap_or(backoff)
                        .min(shared.limits.max_backoff.max(backoff));
                    tokio::time::sleep(wait).await;
                    backoff = (backoff * 2).min(shared.limits.max_backoff);
                }
            }
        }
        shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use monitor_core::testing::{Rng, report};

    /// Answers from a script, and records what it was given.
    struct Scripted {
        answers: Mutex<VecDeque<Attempt>>,
        seen: Mutex<Vec<Vec<i64>>>,
    }

    #[async_trait]
    impl Transport for Arc<Scripted> {
        async fn send(&self, batch: &[Snapshot]) -> Attempt {
            self.seen
                .lock()
                .unwrap()
                .push(batch.iter().map(|s| s.timestamp.as_millis()).collect());
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Attempt::Done)
        }
        fn weight(&self, _: &Snapshot) -> usize {
            1
        }
    }

    fn limits(capacity: usize, batch: usize) -> Limits {
        Limits {
            capacity,
            max_batch_weight: batch,
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            linger: Duration::ZERO,
        }
    }

    fn snapshots(n: i64) -> Vec<Snapshot> {
        let mut rng = Rng(7);
        (0..n)
            .map(|i| report("srv-01", 1_000 * (i + 1), i, &mut rng))
            .collect()
    }

    fn scripted(answers: Vec<Attempt>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            seen: Mutex::default(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_in_order_with_backoff_and_refusals_are_dropped() {
        let transport = scripted(vec![
            Attempt::Retry("503".into(), None),
            Attempt::Retry("429".into(), Some(Duration::from_secs(2))),
            Attempt::Done,
            Attempt::Reject("400 out of order".into()),
        ]);
        let delivery = Delivery::new("test", Arc::clone(&transport), limits(100, 2));
        let started = tokio::time::Instant::now();
        delivery.offer(&snapshots(5)).unwrap();
        delivery.flush(Duration::from_secs(60)).await.unwrap();
        // 30 ms, then the receiver's 2 s.
        assert_eq!(started.elapsed(), Duration::from_millis(2_030));
        let seen = transport.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                vec![1_000, 2_000],
                vec![1_000, 2_000],
                vec![1_000, 2_000],
                vec![3_000, 4_000],
                vec![5_000],
            ]
        );
        let stats = delivery.stats();
        assert_eq!(
            (stats.delivered, stats.rejected, stats.retries, stats.queued),
            (3, 2, 2, 0)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_its_linger_for_company_unless_it_fills() {
        let transport = scripted(Vec::new());
        let delivery = Delivery::new(
            "test",
            Arc::clone(&transport),
            Limits {
                linger: Duration::from_secs(10),
                ..limits(100, 3)
            },
        );
        let started = tokio::time::Instant::now();
        let all = snapshots(5);
        delivery.offer(&all[..1]).unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            transport.seen.lock().unwrap().is_empty(),
            "sent before its linger"
        );
        delivery.offer(&all[1..]).unwrap();
        delivery.flush(Duration::from_secs(60)).await.unwrap();
        let seen = transport.seen.lock().unwrap().clone();
        // Full at once; the rest after its own linger.
        assert_eq!(seen, vec![vec![1_000, 2_000, 3_000], vec![4_000, 5_000]]);
        assert_eq!(started.elapsed(), Duration::from_secs(14));
    }

    #[tokio::test(start_paused = true)]
    async fn a_receiver_down_past_the_capacity_loses_the_oldest_only() {
        let down: Vec<Attempt> = (0..20)
            .map(|_| Attempt::Retry("connection refused".into(), None))
            .collect();
        let transport = scripted(down);
        let delivery = Delivery::new("test", Arc::clone(&transport), limits(4, 1));
        delivery.offer(&snapshots(1)).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The first is in flight; six more arrive while it fails.
        let error = delivery.offer(&snapshots(7)[1..]).unwrap_err();
        assert!(error.to_string().contains("connection refused"), "{error}");
        assert!(delivery.flush(Duration::from_secs(1)).await.is_err());
        delivery.flush(Duration::from_secs(600)).await.unwrap();
        let stats = delivery.stats();
        assert_eq!((stats.delivered, stats.dropped), (4, 3));
        let seen = transport.seen.lock().unwrap().clone();
        let delivered: Vec<i64> = seen[seen.len() - 3..].concat();
        assert_eq!(delivered, vec![5_000, 6_000, 7_000], "the newest are kept");
    }
}
