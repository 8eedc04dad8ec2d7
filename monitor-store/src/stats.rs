//! What the store's writer has done, for a server's own metrics: how long
//! its ingest transactions take, how many failed, and how many calls wait.
//! Plain atomics, no metrics library: the server turns them into
//! Prometheus metrics when scraped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, of the buckets of [`WriterStats::commits`].
pub const COMMIT_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A histogram of durations with the fixed [`COMMIT_BUCKETS`].
#[derive(Debug, Default)]
pub(crate) struct Durations {
    /// Per bucket (not cumulative); the last one is above every bound.
    buckets: [AtomicU64; COMMIT_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Durations {
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = COMMIT_BUCKETS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(COMMIT_BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn read(&self) -> Histogram {
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(COMMIT_BUCKETS.len());
        for (bound, count) in COMMIT_BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            buckets.push((*bound, cumulative));
        }
        let count = cumulative + self.buckets[COMMIT_BUCKETS.len()].load(Ordering::Relaxed);
        Histogram {
            buckets,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// A histogram as read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// `(upper bound in seconds, observations at or below it)`, cumulative,
    /// without the `+Inf` bucket (that is [`Histogram::count`]).
    pub buckets: Vec<(f64, u64)>,
    /// Observations in all.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
}

/// Counters the writer keeps.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) commits: Durations,
    pub(crate) failed: AtomicU64,
    pub(crate) reports: AtomicU64,
    /// Reports refused for the per-server series limit.
    pub(crate) series_refused: AtomicU64,
    /// Rows that could not be read and were left out.
    pub(crate) corrupt_rows: AtomicU64,
    /// The error of the last ingest commit, when it failed (none since a
    /// commit succeeded): the store's health reports writes failing.
    pub(crate) last_failure: std::sync::Mutex<Option<WriteFailure>>,
}

/// Why the writer's last commit failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriteFailure {
    /// The disk (or the database's size limit) is full.
    pub(crate) full: bool,
    /// The error's message.
    pub(crate) message: String,
}

impl Counters {
    pub(crate) fn write_succeeded(&self) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = None;
        }
    }

    pub(crate) fn write_failed(&self, error: &monitor_core::StoreError) {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = Some(WriteFailure {
                full: matches!(error, monitor_core::StoreError::Full(_)),
                message: error.to_string(),
            });
        }
    }

    pub(crate) fn write_failure(&self) -> Option<WriteFailure> {
        self.last_failure.lock().ok().and_then(|l| l.clone())
    }
}

/// The writer's figures, read by [`crate::SqlStore::stats`].
#[derive(Debug, Clone, PartialEq)]
pub struct WriterStats {
    /// How long each ingest transaction took, from its first statement to
    /// its commit (one transaction holds every call waiting at that moment).
    pub commits: Histogram,
    /// Ingest transactions that failed (their calls got an error).
    pub failed_commits: u64,
    /// Reports stored (duplicates not counted).
    pub reports: u64,
    /// Reports refused because they would take their server past the
    /// series limit.
    pub series_refused: u64,
    /// Rows that could not be read (damaged) and were left out of
    /// compaction; their data is lost.
    pub corrupt_rows: u64,
    /// Calls waiting for the writer now (ingest and maintenance).
    pub queue_depth: usize,
    /// How many calls may wait before new ones wait to be queued.
    pub queue_capacity: usize,
}

impl Counters {
    pub(crate) fn read(&self, queue_depth: usize, queue_capacity: usize) -> WriterStats {
        WriterStats {
            commits: self.commits.read(),
            failed_commits: self.failed.load(Ordering::Relaxed),
            reports: self.reports.load(Ordering::Relaxed),
            series_refused: self.series_refused.load(Ordering::Relaxed),
            corrupt_rows: self.corrupt_rows.load(Ordering::Relaxed),
            queue_depth,
            queue_capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_the_overflow_counts_in_the_total() {
        let d = Durations::default();
        d.observe(Duration::from_micros(300));
        d.observe(Duration::from_millis(3));
        d.observe(Duration::from_millis(3));
        d.observe(Duration::from_secs(10));
        let h = d.read();
        assert_eq!(h.buckets[0], (0.0005, 1));
        assert_eq!(h.buckets[3], (0.005, 3));
        assert_eq!(h.buckets.last(), Some(&(2.5, 3)));
        assert_eq!(h.count, 4);
        assert!((h.sum_seconds - 10.0063).abs() < 1e-9);
    }
}
