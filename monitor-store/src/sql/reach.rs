//! Whether the database answered lately: while it does not, calls fail at
//! once and one call at a time probes it, instead of every call waiting a
//! connection timeout.

use std::time::Duration;

use monitor_core::{StoreError, Timestamp};

/// How long, after a call failed to reach the database, ingest is refused
/// at once and reads use what memory holds, before the next call tries
/// again.
pub(super) const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Whether the database answered lately: shared by the writer and the
/// readers, so that a stopped database is probed by one call at a time
/// (every [`RECONNECT_PAUSE`] at most) while the others fail at once,
/// rather than every call waiting a connection timeout.
#[derive(Debug, Default)]
pub(super) struct Reachability {
    /// Wall-clock milliseconds until which the database counts as
    /// unreachable; 0 when it answered last.
    until: std::sync::atomic::AtomicI64,
}

/// How long one probe of a database that did not answer may take before
/// another call probes too (its own result normally ends it sooner).
const PROBE_MS: i64 = 60_000;

impl Reachability {
    /// True while the database counts as unreachable: the caller fails at
    /// once. After a pause, one caller gets false (it probes) and the
    /// others keep getting true until its result is observed.
    pub(super) fn down(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let until = self.until.load(Relaxed);
        if until == 0 {
            return false;
        }
        let now = Timestamp::now().as_millis();
        if now < until {
            return true;
        }
        self.until
            .compare_exchange(until, now + PROBE_MS, Relaxed, Relaxed)
            .is_err()
    }

    /// Notes whether a call reached the database.
    pub(super) fn observe<T>(&self, result: &Result<T, StoreError>) {
        use std::sync::atomic::Ordering::Relaxed;
        match result {
            Ok(_) => {
                if self.until.swap(0, Relaxed) != 0 {
                    tracing::info!("The database answers again.");
                }
            }
            // A full disk answers (every write says so, reads work): it is
            // reported as `Full`, not as a database that does not answer.
            Err(error @ (StoreError::Unavailable(_) | StoreError::Timeout(_))) => {
                let until = Timestamp::now().as_millis()
                    + i64::try_from(RECONNECT_PAUSE.as_millis()).unwrap_or(1000);
                if self.until.swap(until, Relaxed) == 0 {
                    tracing::warn!(%error, "The database does not answer; ingest is refused with 503 and reads use what memory holds until it does.");
                }
            }
            Err(_) => {}
        }
    }

    /// The error for a call not made while the database is down.
    pub(super) fn error() -> StoreError {
        StoreError::Unavailable(
            "the database does not answer; the server keeps trying to reconnect".into(),
        )
    }
}
