//! In-memory doubles of the plugin traits, for tests of code that uses
//! them: a collector that returns what it is given, a notifier and an
//! exporter that record what they receive (and can be told to fail).

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::error::{CollectError, ExportError, NotifyError};
use crate::model::{Collection, Snapshot};
use crate::{CollectContext, Collector, Exporter, Notification, Notifier};

/// A collector that returns a copy of a fixed collection every time.
///
/// ```
/// use monitor_core::testing::StaticCollector;
/// use monitor_core::{Collection, Labels, Unit};
///
/// let mut c = Collection::new();
/// c.gauge("queue_depth", Unit::COUNT, Labels::new(), 3.0);
/// let collector = StaticCollector::new("queue", c);
/// ```
#[derive(Debug, Clone)]
pub struct StaticCollector {
    name: String,
    collection: Collection,
    calls: Arc<Mutex<usize>>,
}

impl StaticCollector {
    /// A collector named `name` returning `collection`.
    pub fn new(name: impl Into<String>, collection: Collection) -> Self {
        StaticCollector {
            name: name.into(),
            collection,
            calls: Arc::default(),
        }
    }

    /// How many times it was called (clones share the count).
    pub fn calls(&self) -> usize {
        *self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Collector for StaticCollector {
    fn name(&self) -> &str {
        &self.name
    }

    async fn collect(&mut self, _ctx: &CollectContext) -> Result<Collection, CollectError> {
        *self.calls.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Ok(self.collection.clone())
    }
}

/// A notifier that records every notification; clones share the record.
/// [`RecordingNotifier::fail_next`] makes the next calls fail, to test
/// retries.
#[derive(Debug, Clone, Default)]
pub struct RecordingNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
    failures: Arc<Mutex<Vec<NotifyError>>>,
}

impl RecordingNotifier {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// What it was given, in order (failed calls excluded).
    pub fn notifications(&self) -> Vec<Notification> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The next call fails with `error` (queued: call it more times for
    /// more failures).
    pub fn fail_next(&self, error: NotifyError) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(error);
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn name(&self) -> &str {
        "recording"
    }

    async fn notify(&self, notification: &Notification) -> Result<(), NotifyError> {
        let failure = {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            (!failures.is_empty()).then(|| failures.remove(0))
        };
        if let Some(error) = failure {
            return Err(error);
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notification.clone());
        Ok(())
    }
}

/// An exporter that records every snapshot; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct RecordingExporter {
    seen: Arc<Mutex<Vec<Snapshot>>>,
    flushes: Arc<Mutex<usize>>,
}

impl RecordingExporter {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every snapshot exported, in order.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times it was flushed (shutdown included).
    pub fn flushes(&self) -> usize {
        *self.flushes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Exporter for RecordingExporter {
    fn name(&self) -> &str {
        "recording"
    }

    async fn export(&self, snapshots: &[Snapshot]) -> Result<(), ExportError> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(snapshots);
        Ok(())
    }

    async fn flush(&self) -> Result<(), ExportError> {
        *self.flushes.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Ok(())
    }
}
