//! The [`Store`] trait: where the metrics go. Ingest, the newest report
//! of each server, history, series, retention and health: what a
//! time-series backend provides. The server's own state (servers, tokens,
//! alert rules and events, settings) is the [`Catalog`](crate::Catalog)'s.
//!
//! [`HistoryQuery::plan`] and [`Buckets`] are the downsampling every stock
//! store applies, for a store of yours to answer history the same way.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::model::{LabelMatcher, Labels, MetricKind, ServerId, Snapshot, Timestamp, Unit};

/// What an ingest call stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IngestReceipt {
    /// Snapshots newly stored.
    pub stored: usize,
    /// Snapshots already stored before (same server and timestamp), ignored.
    pub duplicates: usize,
    /// Snapshots at a taken millisecond (a stored report of the same server
    /// has that timestamp) with other values: not stored. Two programs
    /// report under one server id, or a push landed on an agent's
    /// millisecond.
    #[serde(default)]
    pub conflicts: usize,
}

impl IngestReceipt {
    /// Counts `report` against the report `held` at its server and
    /// millisecond, if a store holds one: a duplicate when they are equal
    /// (an agent's replay), a conflict when they differ, stored when none
    /// is held. True when `report` is to be stored.
    pub fn count(&mut self, held: Option<&Snapshot>, report: &Snapshot) -> bool {
        match held {
            Some(held) if held == report => self.duplicates += 1,
            Some(_) => self.conflicts += 1,
            None => self.stored += 1,
        }
        held.is_none()
    }
}

/// The most points a history answer holds in all its series. A store
/// gives each series fewer, wider buckets when many series match (the SQL
/// store does): a metric with ten thousand series answers ten thousand
/// series, not a gigabyte.
pub const MAX_HISTORY_POINTS: usize = 250_000;

/// A history request: one metric of one server over a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// The server.
    pub server_id: ServerId,
    /// The metric name.
    pub metric: String,
    /// Which series (all when empty).
    pub matchers: Vec<LabelMatcher>,
    /// Start of the range, inclusive.
    pub from: Timestamp,
    /// End of the range, exclusive.
    pub to: Timestamp,
    /// Bucket width. When absent, or finer than that, the store picks the
    /// finest step that yields at most `max_points` buckets.
    pub step: Option<Duration>,
    /// Upper bound on points per series (a given `step` is widened to keep
    /// it), and [`MAX_HISTORY_POINTS`] in all.
    pub max_points: u32,
}

/// Which stored resolution answered a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Every sample as received.
    Raw,
    /// One-minute rollups.
    Minute,
    /// One-hour rollups.
    Hour,
}

/// One bucket of a downsampled series. A bucket without data is absent,
/// never interpolated: a gap stays a gap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Point {
    /// Start of the bucket.
    pub t: Timestamp,
    /// Mean of the samples in the bucket.
    pub avg: f64,
    /// Smallest sample (a dip is never averaged away).
    pub min: f64,
    /// Largest sample (a spike is never averaged away).
    pub max: f64,
    /// The last sample.
    pub last: f64,
    /// How many raw samples the bucket summarizes.
    pub count: u64,
}

/// One series of a history answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Series {
    /// The metric name.
    pub metric: String,
    /// The series' labels.
    pub labels: Labels,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The unit.
    pub unit: Unit,
    /// Buckets in time order.
    pub points: Vec<Point>,
}

/// The answer to a [`HistoryQuery`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The bucket width used, in seconds.
    pub step_secs: u64,
    /// The stored resolution read.
    pub tier: Tier,
    /// The matching series.
    pub series: Vec<Series>,
}

/// A series a server has reported, with its latest value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesInfo {
    /// The metric name.
    pub metric: String,
    /// The labels.
    pub labels: Labels,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// The unit.
    pub unit: Unit,
    /// The newest value, when the server's latest snapshot has this series.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_value: Option<f64>,
    /// When that value was reported.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_seen: Option<Timestamp>,
}

/// How long each resolution is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Raw samples (default 7 days).
    pub raw: Duration,
    /// One-minute rollups (default 90 days).
    pub minute: Duration,
    /// One-hour rollups (default 2 years).
    pub hour: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        RetentionPolicy {
            raw: Duration::from_secs(7 * DAY),
            minute: Duration::from_secs(90 * DAY),
            hour: Duration::from_secs(730 * DAY),
        }
    }
}

impl RetentionPolicy {
    /// The oldest raw sample `self` keeps at `now`: older ones go.
    pub fn raw_cutoff(&self, now: Timestamp) -> Timestamp {
        let keep = i64::try_from(self.raw.as_millis()).unwrap_or(i64::MAX);
        Timestamp::from_millis(now.as_millis().saturating_sub(keep))
    }
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RetentionReport {
    /// Raw rows (or chunks) deleted.
    pub raw_deleted: u64,
    /// Minute rollup rows deleted.
    pub minute_deleted: u64,
    /// Hour rollup rows deleted.
    pub hour_deleted: u64,
}

const SECOND_MS: i64 = 1000;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

impl HistoryQuery {
    /// The bucket width and the resolution to read: the step asked, or the
    /// range over `max_points`, whichever is wider, at least a second,
    /// rounded up to whole seconds below a minute, whole minutes below an
    /// hour and whole hours above ([`Tier::Minute`] from a minute,
    /// [`Tier::Hour`] from an hour). Every stock store answers with this
    /// step, so the dashboard's charts line up whatever the store.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] when `from` is after `to`.
    pub fn plan(&self) -> Result<(Duration, Tier), StoreError> {
        let (from, to) = (self.from.as_millis(), self.to.as_millis());
        if to < from {
            return Err(StoreError::InvalidInput(format!(
                "from {} is after to {}",
                self.from, self.to
            )));
        }
        let points = i64::from(self.max_points.max(1));
        let fitting = (to - from + points - 1) / points;
        let asked = self
            .step
            .map_or(0, |s| i64::try_from(s.as_millis()).unwrap_or(i64::MAX));
        let step = asked.max(fitting).max(SECOND_MS);
        let (unit, tier) = if step >= HOUR_MS {
            (HOUR_MS, Tier::Hour)
        } else if step >= MINUTE_MS {
            (MINUTE_MS, Tier::Minute)
        } else {
            (SECOND_MS, Tier::Raw)
        };
        let step = step.saturating_add(unit - 1) / unit * unit;
        Ok((Duration::from_millis(step.unsigned_abs()), tier))
    }
}

/// Samples summed into epoch-aligned buckets of one width: the points of
/// one series of a [`History`]. Add raw samples with [`Buckets::add`] (or
/// whole rollups with [`Buckets::merge`]) in any order; a bucket without
/// samples is absent.
#[derive(Debug, Clone)]
pub struct Buckets {
    width: i64,
    buckets: BTreeMap<i64, (Point, i64)>,
}

impl Buckets {
    /// Empty buckets `width` wide (at least a millisecond).
    pub fn new(width: Duration) -> Self {
        Buckets {
            width: i64::try_from(width.as_millis()).unwrap_or(i64::MAX).max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// Adds one sample.
    pub fn add(&mut self, t: Timestamp, value: f64) {
        let one = Point {
            t,
            avg: value,
            min: value,
            max: value,
            last: value,
            count: 1,
        };
        self.merge(&one, t);
    }

    /// Adds a summary of samples (`point.avg` over `point.count`), whose
    /// newest sample was taken at `last_at`: a rollup kept by a store.
    pub fn merge(&mut self, point: &Point, last_at: Timestamp) {
        let t = point.t.as_millis();
        let start = t - t.rem_euclid(self.width);
        let last_at = last_at.as_millis();
        self.buckets
            .entry(start)
            .and_modify(|(b, b_last)| {
                let count = b.count + point.count;
                b.avg = (b.avg * b.count as f64 + point.avg * point.count as f64) / count as f64;
                b.min = b.min.min(point.min);
                b.max = b.max.max(point.max);
                if last_at >= *b_last {
                    b.last = point.last;
                    *b_last = last_at;
                }
                b.count = count;
            })
            .or_insert((
                Point {
                    t: Timestamp::from_millis(start),
                    ..*point
                },
                last_at,
            ));
    }

    /// Whether no sample was added.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The buckets in time order.
    pub fn into_points(self) -> Vec<Point> {
        self.buckets.into_values().map(|(p, _)| p).collect()
    }
}

/// The history of `query` computed from whole reports, raw (for a store
/// that keeps reports as they came: a key-value or object store, memory).
/// `reports` may hold other servers' and times'; those are skipped.
///
/// # Errors
/// [`StoreError::InvalidInput`] for a reversed range.
pub fn history_of<'a>(
    query: &HistoryQuery,
    reports: impl IntoIterator<Item = &'a Snapshot>,
) -> Result<History, StoreError> {
    let (step, _) = query.plan()?;
    let mut found: BTreeMap<&Labels, (Series, Buckets)> = BTreeMap::new();
    for report in reports {
        if report.server_id != query.server_id
            || report.timestamp < query.from
            || report.timestamp >= query.to
        {
            continue;
        }
        for family in report.metrics.iter().filter(|f| f.name == query.metric) {
            for sample in &family.samples {
                if !crate::model::matches_all(&query.matchers, &sample.labels) {
                    continue;
                }
                let (_, buckets) = found.entry(&sample.labels).or_insert_with(|| {
                    let series = Series {
                        metric: family.name.clone(),
                        labels: sample.labels.clone(),
                        kind: family.kind,
                        unit: family.unit.clone(),
                        points: Vec::new(),
                    };
                    (series, Buckets::new(step))
                });
                buckets.add(report.timestamp, sample.value);
            }
        }
    }
    Ok(History {
        step_secs: step.as_secs(),
        tier: Tier::Raw,
        series: found
            .into_values()
            .map(|(series, buckets)| Series {
                points: buckets.into_points(),
                ..series
            })
            .collect(),
    })
}

/// Every series of whole reports with its newest value (see
/// [`history_of`]), in metric and label order.
pub fn series_of<'a>(reports: impl IntoIterator<Item = &'a Snapshot>) -> Vec<SeriesInfo> {
    let mut found: BTreeMap<(&str, &Labels), SeriesInfo> = BTreeMap::new();
    for report in reports {
        for family in &report.metrics {
            for sample in &family.samples {
                let newer =
                    |info: &SeriesInfo| info.last_seen.is_none_or(|t| t <= report.timestamp);
                let info = found
                    .entry((&family.name, &sample.labels))
                    .or_insert_with(|| SeriesInfo {
                        metric: family.name.clone(),
                        labels: sample.labels.clone(),
                        kind: family.kind,
                        unit: family.unit.clone(),
                        last_value: None,
                        last_seen: None,
                    });
                if newer(info) {
                    info.last_value = Some(sample.value);
                    info.last_seen = Some(report.timestamp);
                }
            }
        }
    }
    found.into_values().collect()
}

/// Where the metrics go: implemented on SQLite and PostgreSQL by
/// `monitor-store`, and by plugin authors for anything else (see
/// `docs/writing-plugins.md`: a store in well under 100 lines).
///
/// Rules every implementation keeps (its conformance suite,
/// `monitor_core::testing::store::conformance`, checks them):
/// - [`Store::ingest`] returns only after the data is durable (for the
///   store's idea of durable: a store in memory keeps nothing past its
///   process);
/// - ingest is idempotent: a snapshot with a server id and timestamp already
///   stored is counted in [`IngestReceipt::duplicates`] and changes nothing;
/// - history never interpolates: a bucket without samples is absent.
///
/// The server calls it only for registered servers (the
/// [`Catalog`](crate::Catalog) knows them): a store need not know which
/// servers exist.
#[async_trait]
pub trait Store: Send + Sync {
    /// A short name for logs and `/api/health` (`sqlite`, `postgres`).
    fn name(&self) -> &str;

    /// Stores snapshots durably and idempotently. Takes them by value: a
    /// server hands over what it decoded, and a store may keep them.
    ///
    /// One report per server and millisecond: a snapshot at a taken
    /// timestamp is a duplicate when its series and values are those of the
    /// stored report (an agent's replay), a conflict otherwise; neither is
    /// stored. A store may count a replay of a report it keeps only in
    /// rollups or compacted form as a duplicate without comparing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the store keeps metrics only for the
    /// servers of its own catalog and a snapshot's server is not there;
    /// [`StoreError::Unavailable`] or [`StoreError::Full`] when it cannot be
    /// written now. On error nothing of the batch counts as stored.
    async fn ingest(&self, snapshots: Vec<Snapshot>) -> Result<IngestReceipt, StoreError>;

    /// The newest snapshot of a server (a store may keep the newest
    /// snapshots in memory). The dashboard's server page and the overview
    /// ask for it.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest_snapshot(&self, id: &ServerId) -> Result<Option<Arc<Snapshot>>, StoreError>;

    /// When the newest snapshot of a server was taken. The server asks
    /// after each accepted batch (is it the newest?): keep it cheap. The
    /// default asks [`Store::latest_snapshot`].
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest_timestamp(&self, id: &ServerId) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.latest_snapshot(id).await?.map(|s| s.timestamp))
    }

    /// The newest snapshot of every server that has reported (the
    /// overview, `/metrics`).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn latest_snapshots(&self) -> Result<Vec<Arc<Snapshot>>, StoreError>;

    /// Downsampled history of one metric ([`HistoryQuery::plan`] gives the
    /// step, [`Buckets`] the points). A server without data has no series.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a reversed range.
    async fn history(&self, query: &HistoryQuery) -> Result<History, StoreError>;

    /// Every series a server has reported, with its latest value (none
    /// for a server without data).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn series(&self, id: &ServerId) -> Result<Vec<SeriesInfo>, StoreError>;

    /// Deletes every report, series and rollup of a server: it was
    /// deleted. A server without data is no error.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn delete_server_data(&self, id: &ServerId) -> Result<(), StoreError>;

    /// Deletes what is older than `policy` allows (a store with rollups
    /// rolls raw samples up first). The stock server calls it at start and
    /// every hour.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn enforce_retention(
        &self,
        policy: &RetentionPolicy,
        now: Timestamp,
    ) -> Result<RetentionReport, StoreError>;

    /// Checks that the database answers. The default assumes it does.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    async fn health(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Flushes pending writes and closes connections.
    ///
    /// # Errors
    /// [`StoreError`] when the final flush failed.
    async fn shutdown(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
