//! The conformance suite of [`Collector`]: what the agent relies on from
//! every collector, built-in or yours.
//!
//! ```text
//! #[tokio::test]
//! async fn my_collector_conforms() {
//!     monitor_core::testing::collector::conformance(&mut MyCollector::new()).await;
//! }
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use crate::model::{MetricKind, ServerId, Snapshot, Timestamp, Unit, is_valid_name};
use crate::wire::{self, Limits};
use crate::{CollectContext, Collector};

/// Collects three times one second apart (rates and percentages need two
/// reads) and checks each result:
/// - the name is a short identifier (`[a-z0-9_-]`, 1 to 64 bytes);
/// - the collection passes the wire format's checks as a snapshot would
///   (valid names and label values, finite values, no series twice, the
///   limits of one snapshot);
/// - a metric keeps its kind and unit from one call to the next;
/// - counters do not go down between calls (a collector that reads a
///   source which may reset must not report the reset as a decrease: it
///   reports the new value, which the suite accepts only once);
/// - `shutdown` succeeds.
///
/// A collector that cannot run here (no Docker engine) may fail every call
/// with an error: the suite then checks that the error says so and that
/// the collector keeps answering.
///
/// # Panics
/// On the first broken rule, saying which.
pub async fn conformance(collector: &mut dyn Collector) {
    let name = collector.name().to_owned();
    assert!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
        "collector name {name:?}: use 1 to 64 of [a-z0-9_-]"
    );
    let interval = Duration::from_secs(1);
    let mut shapes: HashMap<String, (MetricKind, Unit)> = HashMap::new();
    let mut counters: HashMap<(String, String), f64> = HashMap::new();
    let mut failures = 0;
    for round in 0..3 {
        if round > 0 {
            tokio::time::sleep(interval).await;
        }
        let ctx = CollectContext::new(Timestamp::now(), interval);
        let collection = match collector.collect(&ctx).await {
            Ok(c) => c,
            Err(error) => {
                assert!(
                    !error.to_string().trim().is_empty(),
                    "{name}: an error must say what went wrong"
                );
                failures += 1;
                continue;
            }
        };
        for family in &collection.families {
            assert!(
                is_valid_name(&family.name),
                "{name}: metric name {:?}",
                family.name
            );
            let shape = (family.kind, family.unit.clone());
            let known = shapes.entry(family.name.clone()).or_insert(shape.clone());
            assert_eq!(
                *known, shape,
                "{name}: {} changed its kind or unit between calls",
                family.name
            );
            if family.kind == MetricKind::Counter {
                for sample in &family.samples {
                    let key = (family.name.clone(), sample.labels.to_string());
                    if let Some(before) = counters.insert(key, sample.value) {
                        assert!(
                            sample.value >= before || sample.value < before / 2.0,
                            "{name}: counter {}{} went from {before} to {}",
                            family.name,
                            sample.labels,
                            sample.value
                        );
                    }
                }
            }
        }
        let snapshot = Snapshot::new(ServerId::new("conformance").unwrap(), ctx.now, collection);
        if let Err(error) = wire::validate(&snapshot, &Limits::default()) {
            panic!("{name}: the collection would be refused by the server: {error}");
        }
    }
    assert!(
        failures == 0 || failures == 3,
        "{name}: failed {failures} calls of 3 (a collector that works should keep working)"
    );
    collector
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown failed: {e}"));
}
