//! The conformance suite of [`Exporter`]: what the agent and the server
//! rely on from every exporter, built-in or yours.
//!
//! ```text
//! #[tokio::test]
//! async fn my_exporter_conforms() {
//!     let exporter = MyExporter::to_a_test_receiver().await;
//!     monitor_core::testing::exporter::conformance(&exporter).await;
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::model::{Collection, Labels, ServerId, Snapshot, Timestamp, Unit};
use crate::{Exporter, names};

/// Two servers' snapshots a second apart, with a gauge, a labelled gauge,
/// a counter and a plugin metric.
pub fn snapshots() -> Vec<Snapshot> {
    let now = Timestamp::now().as_millis();
    let mut out = Vec::new();
    for (i, server) in ["conformance-a", "conformance-b"].into_iter().enumerate() {
        for k in 0..2i64 {
            let mut c = Collection::new();
            c.gauge(
                names::MEMORY_USED_BYTES,
                Unit::BYTES,
                Labels::new(),
                1e9 + k as f64,
            );
            c.gauge(
                names::CPU_USAGE_PERCENT,
                Unit::PERCENT,
                Labels::new().with("cpu", "0"),
                12.5,
            );
            c.counter(
                names::NETWORK_RECEIVE_BYTES_TOTAL,
                Unit::BYTES,
                Labels::new().with("interface", "eth0"),
                1000.0 * (k + 1) as f64,
            );
            c.gauge(
                "queue_depth",
                Unit::COUNT,
                Labels::new().with("queue", "mail"),
                i as f64,
            );
            out.push(Snapshot::new(
                ServerId::new(server).unwrap(),
                Timestamp::from_millis(now - 1000 + k * 1000),
                c,
            ));
        }
    }
    out
}

/// Exports nothing, then [`snapshots`] one call per server and all at once,
/// then flushes and shuts down: every call must succeed, and the name must
/// say what it is. Whether the data arrived is the caller's to check at its
/// receiver.
///
/// # Panics
/// On the first broken rule, saying which.
pub async fn conformance(exporter: &dyn Exporter) {
    let name = exporter.name().to_owned();
    assert!(
        !name.trim().is_empty(),
        "an exporter needs a name for its logs"
    );
    exporter
        .export(&[])
        .await
        .unwrap_or_else(|e| panic!("{name}: exporting nothing failed: {e}"));
    let all = snapshots();
    for one in all.chunks(2) {
        exporter
            .export(one)
            .await
            .unwrap_or_else(|e| panic!("{name}: export failed: {e}"));
    }
    exporter
        .export(&all)
        .await
        .unwrap_or_else(|e| panic!("{name}: exporting a batch failed: {e}"));
    exporter
        .flush()
        .await
        .unwrap_or_else(|e| panic!("{name}: flush failed: {e}"));
    exporter
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown failed: {e}"));
}
