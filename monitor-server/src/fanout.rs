//! Accepted snapshots to the exporters a server was built with: a bounded
//! queue and a task of its own, so a slow exporter never delays ingest.
//! When the queue is full (an exporter slower than ingest), batches are
//! dropped for the exporters with a warning at most once a minute.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use monitor_core::{Exporter, Snapshot};
use tokio::sync::{mpsc, oneshot};

/// Batches that may wait for the exporters.
const QUEUE: usize = 1024;

enum Work {
    Batch(Vec<Snapshot>),
    Flush(oneshot::Sender<()>),
}

/// The queue to the exporters (clones share it).
#[derive(Debug, Clone)]
pub struct ExportQueue {
    tx: mpsc::Sender<Work>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Work::Batch(b) => write!(f, "Batch({})", b.len()),
            Work::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl ExportQueue {
    /// Starts the task that feeds `exporters`.
    pub fn start(exporters: Vec<Box<dyn Exporter>>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Work>(QUEUE);
        tokio::spawn(async move {
            let mut failing: Vec<Option<String>> = vec![None; exporters.len()];
            while let Some(work) = rx.recv().await {
                match work {
                    Work::Batch(batch) => {
                        for (exporter, failing) in exporters.iter().zip(&mut failing) {
                            match exporter.export(&batch).await {
                                Ok(()) => {
                                    if failing.take().is_some() {
                                        tracing::info!(
                                            exporter = exporter.name(),
                                            "Exporter recovered."
                                        );
                                    }
                                }
                                Err(error) => {
                                    let message = error.to_string();
                                    if failing.as_deref() != Some(message.as_str()) {
                                        tracing::warn!(exporter = exporter.name(), %error, "Export failing (an exporter that keeps what it was given says so in its own messages).");
                                        *failing = Some(message);
                                    }
                                }
                            }
                        }
                    }
                    Work::Flush(done) => {
                        for exporter in &exporters {
                            if let Err(error) = exporter.shutdown().await {
                                tracing::warn!(exporter = exporter.name(), %error, "Exporter shutdown failed.");
                            }
                        }
                        let _ = done.send(());
                    }
                }
            }
        });
        ExportQueue {
            tx,
            dropped: Arc::default(),
        }
    }

    /// Hands `snapshots` to the exporters, or drops them when the queue is
    /// full.
    pub fn offer(&self, snapshots: Vec<Snapshot>) {
        if self.tx.try_send(Work::Batch(snapshots)).is_err() {
            static LAST: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            let mut last = LAST
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                *last = Some(Instant::now());
                tracing::warn!(
                    dropped,
                    "The exporters are slower than ingest: snapshots were dropped for them."
                );
            }
        }
    }

    /// Batches dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until everything queued was exported, then shuts the exporters
    /// down (at shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Work::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}
