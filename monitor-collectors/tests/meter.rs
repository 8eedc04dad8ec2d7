//! The meter bridge against OpenTelemetry's SDK: an application's own
//! `MeterProvider`, read into the SDK's in-memory exporter, gets the
//! collectors' metrics under the semantic conventions' names, and a
//! plugin's metric under its own.

#![cfg(feature = "opentelemetry")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use monitor_collectors::export::meter::MeterBridge;
use monitor_collectors::{Agent, HostPaths, MemoryCollector};
use monitor_core::testing::StaticCollector;
use monitor_core::{Collection, Labels, ServerId, Unit};
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A metric as the SDK exported it.
#[derive(Debug)]
struct Seen {
    name: String,
    unit: String,
    /// `Some(monotonic)` for a sum, `None` for a gauge.
    monotonic: Option<bool>,
    /// Attributes as `k=v`, and the value.
    points: Vec<(Vec<String>, f64)>,
}

/// Every metric the exporter holds, from its latest collection.
fn collected(exporter: &InMemoryMetricExporter) -> Vec<Seen> {
    let attrs = |a: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
        a.map(|kv| format!("{}={}", kv.key, kv.value.as_str()))
            .collect::<Vec<_>>()
    };
    let finished = exporter.get_finished_metrics().unwrap();
    let last = finished.last().expect("a collection");
    let mut out = Vec::new();
    for metric in last.scope_metrics().flat_map(|s| s.metrics()) {
        let (monotonic, points) = match metric.data() {
            AggregatedMetrics::F64(MetricData::Gauge(g)) => (
                None,
                g.data_points()
                    .map(|p| (attrs(&mut p.attributes()), p.value()))
                    .collect(),
            ),
            AggregatedMetrics::F64(MetricData::Sum(s)) => (
                Some(s.is_monotonic()),
                s.data_points()
                    .map(|p| (attrs(&mut p.attributes()), p.value()))
                    .collect(),
            ),
            other => panic!("{}: unexpected data {other:?}", metric.name()),
        };
        out.push(Seen {
            name: metric.name().to_owned(),
            unit: metric.unit().to_owned(),
            monotonic,
            points,
        });
    }
    out
}

/// The value of the point with `attribute` among a metric's.
fn point_with(metric: &Seen, attribute: &str) -> f64 {
    metric
        .points
        .iter()
        .find(|(a, _)| a.iter().any(|x| x == attribute))
        .unwrap_or_else(|| panic!("{}: no point with {attribute}", metric.name))
        .1
}

#[tokio::test]
async fn the_collectors_metrics_reach_an_applications_own_meter_provider() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let mut plugin = Collection::new();
    plugin.counter(
        "queue_jobs_total",
        Unit::COUNT,
        Labels::new().with("queue", "mail"),
        42.0,
    );
    let mut agent = Agent::builder()
        .with_server_id(ServerId::new("this-host").unwrap())
        .with_interval(Duration::from_secs(1))
        .with_collector(Box::new(MemoryCollector::new(HostPaths::default())))
        .with_collector(Box::new(StaticCollector::new("plugin", plugin)))
        .with_exporter(Box::new(MeterBridge::new(
            provider.meter("monitor-collectors"),
        )))
        .build()
        .unwrap();
    let snapshot = agent.tick().await;
    provider.force_flush().unwrap();
    let metrics = collected(&exporter);
    let find = |name: &str| {
        metrics
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {metrics:?}"))
    };
    // Memory in use, as an up-down counter in bytes with its state.
    let usage = find("system.memory.usage");
    assert_eq!(usage.unit, "By");
    assert_eq!(usage.monotonic, Some(false), "an up-down counter");
    assert_eq!(
        point_with(usage, "system.memory.state=used"),
        snapshot.value("memory_used_bytes", &Labels::new()).unwrap()
    );
    // A percentage becomes a 0–1 utilization gauge.
    let utilization = find("system.memory.utilization");
    assert_eq!(utilization.monotonic, None, "a gauge");
    let value = point_with(utilization, "system.memory.state=used");
    let percent = snapshot
        .value("memory_used_percent", &Labels::new())
        .unwrap();
    assert!(
        (value - percent / 100.0).abs() < 1e-9,
        "{value} vs {percent}%"
    );
    // A plugin's counter keeps its name and labels, monotonic.
    let jobs = find("queue_jobs_total");
    assert_eq!(jobs.points, vec![(vec!["queue=mail".to_owned()], 42.0)]);
    assert_eq!(jobs.monotonic, Some(true), "a counter");
    // The next collection observes the newest snapshot, not the first.
    let second = agent.tick().await;
    provider.force_flush().unwrap();
    let metrics = collected(&exporter);
    let usage = metrics
        .iter()
        .find(|m| m.name == "system.memory.usage")
        .unwrap();
    assert_eq!(
        point_with(usage, "system.memory.state=used"),
        second.value("memory_used_bytes", &Labels::new()).unwrap()
    );
    provider.shutdown().unwrap();
}

#[tokio::test]
async fn many_hosts_are_told_apart_by_host_id() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let bridge = MeterBridge::new(provider.meter("relay")).with_host_attribute();
    for (host, value) in [("web-1", 1.0), ("web-2", 2.0)] {
        let mut c = Collection::new();
        c.gauge("load_average_1m", Unit::NONE, Labels::new(), value);
        let snapshot = monitor_core::Snapshot::new(
            ServerId::new(host).unwrap(),
            monitor_core::Timestamp::now(),
            c,
        );
        monitor_core::Exporter::export(&bridge, &[snapshot])
            .await
            .unwrap();
    }
    provider.force_flush().unwrap();
    let metrics = collected(&exporter);
    let load = metrics
        .iter()
        .find(|m| m.name == "system.cpu.load_average.1m")
        .unwrap();
    let mut got = load.points.clone();
    got.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        got,
        vec![
            (vec!["host.id=web-1".to_owned()], 1.0),
            (vec!["host.id=web-2".to_owned()], 2.0)
        ]
    );
    provider.shutdown().unwrap();
}

#[tokio::test]
async fn the_bridge_passes_the_exporter_conformance_suite() {
    let provider = SdkMeterProvider::builder().build();
    let bridge = MeterBridge::new(provider.meter("conformance"));
    monitor_core::testing::exporter::conformance(&bridge).await;
}
