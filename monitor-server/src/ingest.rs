//! The ingest pipeline, without HTTP: decode a body of reports, check them
//! against the sender's identity, its rate and the server's clock, store
//! them, and hand what was taken to the alert rules, the live stream and
//! the exporters.
//!
//! `POST /api/metrics` (in [`crate::api`]) authenticates the agent, reads
//! its body, takes room in the ingest budget ([`Ingest::admit`]) and calls
//! [`Ingest::ingest`]; every answer it gives comes from an
//! [`IngestError`]. Anything else that receives reports (a test, another
//! transport) calls the same two methods.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use monitor_core::catalog::NewServer;
//! use monitor_core::testing::MemoryStore;
//! use monitor_core::{Catalog, Collection, ServerId, Snapshot, Timestamp, TokenHash, wire};
//! use monitor_server::ingest::Ingest;
//!
//! let store = Arc::new(MemoryStore::new());
//! let id = ServerId::new("web-1").unwrap();
//! store
//!     .register_server(NewServer {
//!         id: id.clone(),
//!         name: String::new(),
//!         tags: Vec::new(),
//!         token_hash: TokenHash([7; 32]),
//!         created: Timestamp::now(),
//!     })
//!     .await
//!     .unwrap();
//! let ingest = Ingest::new(store);
//! let report = Snapshot::new(id.clone(), Timestamp::now(), Collection::new());
//! let receipt = ingest.ingest(&id, &wire::encode(&report).unwrap()).await.unwrap();
//! assert_eq!(receipt.stored, 1);
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use monitor_core::{ServerId, Snapshot, Store, StoreError, Timestamp, wire};

use crate::admission::{Held, IngestBudget};
use crate::config::{LimitSettings, RetentionSettings};
use crate::limit::RateLimiter;

/// What one call stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Snapshots stored.
    pub stored: usize,
    /// Snapshots already stored with the same values (replays).
    pub duplicates: usize,
    /// Snapshots the body carried.
    pub snapshots: usize,
    /// Samples the body carried.
    pub samples: usize,
}

/// Why reports were not taken. Up to [`IngestError::Conflicts`], nothing of
/// the call was stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not reports within the wire limits.
    #[error(transparent)]
    Wire(#[from] wire::WireError),
    /// The ingest budget had no room within [`crate::admission::WAIT`].
    #[error(
        "the server is taking in as many reports as it holds at once (limits.ingest_bytes_in_flight); nothing of this request was stored, retry after the delay"
    )]
    Overloaded,
    /// The sender is over its rate; `wait` until it has room.
    #[error(
        "server {server} sends more snapshots than its limit (limits.ingest_per_token_per_second, limits.ingest_burst); nothing of this request was stored, retry after the delay"
    )]
    RateLimited {
        /// The sender.
        server: ServerId,
        /// How long until the call would fit.
        wait: Duration,
    },
    /// A snapshot names another server than its sender.
    #[error("snapshot {index} is for server {found:?} but the token belongs to {sender:?}")]
    IdentityMismatch {
        /// Its place in the batch.
        index: usize,
        /// The server it names.
        found: String,
        /// The sender.
        sender: String,
    },
    /// A snapshot dated too far ahead or too long ago.
    #[error("snapshot {index} is dated {at}, {rule}")]
    OutOfRange {
        /// Its place in the batch.
        index: usize,
        /// Its timestamp.
        at: Timestamp,
        /// Which limit, and what to do.
        rule: String,
    },
    /// Snapshots at a millisecond another report of the server holds with
    /// other values: not stored; the rest of the batch was.
    #[error(
        "{conflicts} of the {total} snapshots are dated at a millisecond where another report of server {server} is stored with other values, and were not stored ({stored} stored, {duplicates} already there): does another agent or program report under this server id? Give each its own (POST /api/register)"
    )]
    Conflicts {
        /// The sender.
        server: ServerId,
        /// Snapshots not stored.
        conflicts: usize,
        /// Snapshots in the call.
        total: usize,
        /// Snapshots stored.
        stored: usize,
        /// Snapshots already there.
        duplicates: usize,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ingest pipeline over a store, with the alert rules, the live stream
/// and the exporters it feeds. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    store: Arc<dyn Store>,
    limits: wire::Limits,
    future_tolerance_ms: i64,
    max_age_ms: i64,
    rate: Arc<RateLimiter>,
    budget: IngestBudget,
    alerts: Option<crate::alerts::Alerts>,
    stream: Arc<crate::stream::StreamHub>,
    exporters: Option<crate::fanout::ExportQueue>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("store", &self.store.name())
            .field("budget", &self.budget.capacity())
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// A pipeline into `store` with the default limits and retention, no
    /// alert rules, no exporters and a live stream of its own.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Ingest {
            store,
            limits: wire::Limits::default(),
            future_tolerance_ms: 0,
            max_age_ms: 0,
            rate: Arc::new(RateLimiter::new(1.0, 1)),
            budget: IngestBudget::new(1),
            alerts: None,
            stream: Arc::default(),
            exporters: None,
        }
        .with_limits(&LimitSettings::default())
        .with_retention(&RetentionSettings::default())
    }

    /// Applies the wire limits, the clock skew allowed, the per-sender rate
    /// and the ingest budget.
    pub fn with_limits(mut self, limits: &LimitSettings) -> Self {
        self.limits = limits.wire();
        self.future_tolerance_ms = limits.future_tolerance.as_millis() as i64;
        self.rate = Arc::new(RateLimiter::new(
            limits.ingest_per_token_per_second,
            limits.ingest_burst,
        ));
        self.budget = IngestBudget::new(limits.ingest_bytes_in_flight);
        self
    }

    /// Refuses snapshots older than the raw retention (they would be
    /// deleted at the next retention pass).
    pub fn with_retention(mut self, retention: &RetentionSettings) -> Self {
        self.max_age_ms = retention.raw.as_millis() as i64;
        self
    }

    /// Evaluates `alerts`' rules on the newest report of each call taken.
    pub fn with_alerts(mut self, alerts: crate::alerts::Alerts) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// Publishes the newest report of each call taken on `stream`.
    pub fn with_stream(mut self, stream: Arc<crate::stream::StreamHub>) -> Self {
        self.stream = stream;
        self
    }

    /// Hands every call's stored reports to the exporters behind `queue`.
    pub fn with_exporters(mut self, queue: crate::fanout::ExportQueue) -> Self {
        self.exporters = Some(queue);
        self
    }

    /// The exporters' queue, when there are exporters.
    pub fn exporters(&self) -> Option<&crate::fanout::ExportQueue> {
        self.exporters.as_ref()
    }

    /// The ingest budget (bytes in progress, and its capacity).
    pub fn budget(&self) -> &IngestBudget {
        &self.budget
    }

    /// Takes room for a body of `bytes` (inflated) in the ingest budget,
    /// waiting up to [`crate::admission::WAIT`]; hold it until
    /// [`Ingest::ingest`] has answered.
    ///
    /// # Errors
    /// [`IngestError::Overloaded`] when there is no room in time.
    pub async fn admit(&self, bytes: usize) -> Result<Held, IngestError> {
        self.budget.take(bytes).await.ok_or(IngestError::Overloaded)
    }

    /// Decodes `body` (one snapshot or a batch, JSON), checks every
    /// snapshot against `sender` and the clock, stores them, and feeds the
    /// alert rules, the live stream and the exporters.
    ///
    /// # Errors
    /// See [`IngestError`]; the checks run in its order.
    pub async fn ingest(&self, sender: &ServerId, body: &[u8]) -> Result<Receipt, IngestError> {
        let snapshots = wire::decode(body, &self.limits)?;
        self.rate
            .take(sender.as_str(), snapshots.len() as f64)
            .map_err(|wait| IngestError::RateLimited {
                server: sender.clone(),
                wait,
            })?;
        self.check(sender, &snapshots)?;
        // The batch's newest report goes to the rules and the live stream
        // once the store has taken it: a replay older than an alert's state
        // or a duplicate changes nothing (the evaluator ignores what is
        // older than an alert's state), and a report the store refused as a
        // conflict reaches neither. Copied only when one of them wants it.
        let newest = snapshots
            .iter()
            .max_by_key(|s| s.timestamp)
            .filter(|_| self.alerts.is_some() || self.stream.wants_events())
            .map(|s| Arc::new(s.clone()));
        let total = snapshots.len();
        let samples = snapshots.iter().map(Snapshot::sample_count).sum();
        // A copy for the exporters, only when there are some.
        let for_exporters = self.exporters.as_ref().map(|_| snapshots.clone());
        let receipt = self.store.ingest(snapshots).await?;
        let accepted = receipt.stored > 0 && receipt.conflicts == 0;
        if let (Some(queue), Some(batch)) = (&self.exporters, for_exporters)
            && receipt.stored > 0
        {
            queue.offer(batch);
        }
        if accepted && let (Some(alerts), Some(snapshot)) = (&self.alerts, &newest) {
            alerts.evaluate(snapshot);
        }
        // A batch of replays older than what the server has publishes
        // nothing.
        if accepted
            && self.stream.wants_events()
            && let Some(snapshot) = newest
            && let Ok(Some(latest)) = self.store.latest_timestamp(sender).await
            && latest == snapshot.timestamp
        {
            self.stream
                .publish("snapshot", crate::stream::Payload::of_snapshot(snapshot));
        }
        if receipt.conflicts > 0 {
            tracing::warn!(server = %sender, conflicts = receipt.conflicts, stored = receipt.stored,
                "Reports at a millisecond another report of this server already holds, with other values: not stored. Do two agents or programs report under this server id?");
            return Err(IngestError::Conflicts {
                server: sender.clone(),
                conflicts: receipt.conflicts,
                total,
                stored: receipt.stored,
                duplicates: receipt.duplicates,
            });
        }
        Ok(Receipt {
            stored: receipt.stored,
            duplicates: receipt.duplicates,
            snapshots: total,
            samples,
        })
    }

    /// Every snapshot is the sender's and dated within the clock skew
    /// allowed and the raw retention.
    fn check(&self, sender: &ServerId, snapshots: &[Snapshot]) -> Result<(), IngestError> {
        let now = Timestamp::now().as_millis();
        let span =
            |ms: i64| crate::config::format_duration(Duration::from_millis(ms.max(0) as u64));
        for (index, s) in snapshots.iter().enumerate() {
            if s.server_id != *sender {
                return Err(IngestError::IdentityMismatch {
                    index,
                    found: s.server_id.as_str().to_owned(),
                    sender: sender.as_str().to_owned(),
                });
            }
            let out_of_range = |rule: String| IngestError::OutOfRange {
                index,
                at: s.timestamp,
                rule,
            };
            if s.timestamp.as_millis() > now + self.future_tolerance_ms {
                return Err(out_of_range(format!(
                    "more than {} in the future (limits.future_tolerance): check the agent's clock",
                    span(self.future_tolerance_ms)
                )));
            }
            if s.timestamp.as_millis() < now - self.max_age_ms {
                return Err(out_of_range(format!(
                    "older than the raw retention of {} (retention.raw): it would be deleted at once",
                    span(self.max_age_ms)
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::catalog::NewServer;
    use monitor_core::testing::MemoryStore;
    use monitor_core::{Catalog, Collection, Labels, TokenHash, Unit};

    async fn pipeline() -> (Ingest, Arc<MemoryStore>, ServerId) {
        let store = Arc::new(MemoryStore::new());
        let id = ServerId::new("web-1").expect("id");
        store
            .register_server(NewServer {
                id: id.clone(),
                name: String::new(),
                tags: Vec::new(),
                token_hash: TokenHash([1; 32]),
                created: Timestamp::now(),
            })
            .await
            .expect("registered");
        (Ingest::new(store.clone()), store, id)
    }

    fn report(id: &ServerId, at: Timestamp, cpu: f64) -> Snapshot {
        let mut c = Collection::new();
        c.gauge("cpu_usage_percent", Unit::PERCENT, Labels::new(), cpu);
        Snapshot::new(id.clone(), at, c)
    }

    #[tokio::test]
    async fn reports_are_stored_once_and_replays_count_as_duplicates() {
        let (ingest, _, id) = pipeline().await;
        let now = Timestamp::now();
        let batch = vec![
            report(&id, now.add_millis(-2000), 1.0),
            report(&id, now, 2.0),
        ];
        let body = wire::encode_batch(&batch).expect("encoded");
        let first = ingest.ingest(&id, &body).await.expect("taken");
        assert_eq!(
            (
                first.stored,
                first.duplicates,
                first.snapshots,
                first.samples
            ),
            (2, 0, 2, 2)
        );
        let again = ingest.ingest(&id, &body).await.expect("taken");
        assert_eq!((again.stored, again.duplicates), (0, 2));
    }

    #[tokio::test]
    async fn each_check_refuses_the_whole_call() {
        let (ingest, store, id) = pipeline().await;
        let now = Timestamp::now();
        let other = ServerId::new("web-2").expect("id");
        type Case = (Vec<u8>, fn(&IngestError) -> bool);
        let cases: Vec<Case> = vec![
            (b"{not json".to_vec(), |e| matches!(e, IngestError::Wire(_))),
            (
                wire::encode_batch(&[report(&id, now, 1.0), report(&other, now, 1.0)])
                    .expect("encoded"),
                |e| matches!(e, IngestError::IdentityMismatch { index: 1, .. }),
            ),
            (
                wire::encode(&report(&id, now.add_millis(3_600_000), 1.0)).expect("encoded"),
                |e| matches!(e, IngestError::OutOfRange { index: 0, .. }),
            ),
            (
                wire::encode(&report(&id, now.add_millis(-30 * 86_400_000), 1.0)).expect("encoded"),
                |e| matches!(e, IngestError::OutOfRange { .. }),
            ),
        ];
        for (body, expected) in cases {
            let error = ingest.ingest(&id, &body).await.expect_err("refused");
            assert!(expected(&error), "{error:?}");
        }
        assert!(
            store.latest_snapshot(&id).await.expect("read").is_none(),
            "nothing stored"
        );
    }

    #[tokio::test]
    async fn a_report_at_a_taken_millisecond_with_other_values_is_a_conflict() {
        let (ingest, _, id) = pipeline().await;
        let now = Timestamp::now();
        let body = wire::encode(&report(&id, now, 1.0)).expect("encoded");
        ingest.ingest(&id, &body).await.expect("taken");
        let clash = wire::encode(&report(&id, now, 99.0)).expect("encoded");
        let error = ingest.ingest(&id, &clash).await.expect_err("conflict");
        assert!(
            matches!(
                error,
                IngestError::Conflicts {
                    conflicts: 1,
                    stored: 0,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_sender_over_its_rate_is_told_how_long_to_wait() {
        let (ingest, _, id) = pipeline().await;
        let ingest = ingest.with_limits(&LimitSettings {
            ingest_per_token_per_second: 0.01,
            ingest_burst: 1,
            ..LimitSettings::default()
        });
        let now = Timestamp::now();
        let one = |ms| wire::encode(&report(&id, now.add_millis(ms), 1.0)).expect("encoded");
        ingest.ingest(&id, &one(-1000)).await.expect("taken");
        match ingest.ingest(&id, &one(0)).await {
            Err(IngestError::RateLimited { wait, .. }) => assert!(wait > Duration::ZERO),
            other => panic!("{other:?}"),
        }
    }
}
